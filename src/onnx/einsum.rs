//! Einsum equations, parsed when the graph loads so that a form avfoil cannot evaluate is refused
//! before any work: explicit (`bij,bjk->bik`) and implicit (`ij,jk`: the labels used once, in
//! alphabetical order) outputs, any number of operands, and `...` standing for the same leading
//! axes in every term (broadcast right-aligned, as numpy does). A label repeated within one term
//! (a diagonal, `ii->i`) is refused: exporters do not emit it for the models avfoil attacks.

/// An axis label: a letter (its ASCII code), or the `j`-th axis of an ellipsis counted from its
/// right end ([`ellipsis`]), so that ellipses of different widths line up on the right.
pub type Label = u16;

/// The label of the ellipsis axis `j` places from the ellipsis's right end.
pub fn ellipsis(j: usize) -> Label {
    128 + j as Label
}

/// One term: its labels left to right, with the ellipsis (if any) at `ellipsis_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub letters: Vec<Label>,
    pub ellipsis_at: Option<usize>,
}

impl Term {
    /// The term's labels for an operand of rank `rank`, the ellipsis expanded; `None` when the
    /// rank does not fit the term.
    pub fn labels(&self, rank: usize) -> Option<Vec<Label>> {
        match self.ellipsis_at {
            None => (rank == self.letters.len()).then(|| self.letters.clone()),
            Some(at) => {
                let width = rank.checked_sub(self.letters.len())?;
                let mut out = self.letters[..at].to_vec();
                out.extend((0..width).rev().map(ellipsis));
                out.extend_from_slice(&self.letters[at..]);
                Some(out)
            }
        }
    }
}

/// A parsed equation.
#[derive(Clone, Debug, PartialEq)]
pub struct Equation {
    pub inputs: Vec<Term>,
    pub output: Term,
}

fn term(text: &str, equation: &str) -> Result<Term, String> {
    let (before, after) = match text.split_once("...") {
        Some((b, a)) => (b, Some(a)),
        None => (text, None),
    };
    let mut letters = Vec::new();
    for part in std::iter::once(before).chain(after) {
        for c in part.chars() {
            if !c.is_ascii_alphabetic() {
                return Err(format!(
                    "equation '{equation}': '{c}' in term '{text}' is not a letter (or one '...')"
                ));
            }
            let label = c as Label;
            if letters.contains(&label) {
                return Err(format!(
                    "equation '{equation}': label '{c}' appears twice in term '{text}' (a \
                     diagonal or trace), which avfoil does not evaluate"
                ));
            }
            letters.push(label);
        }
    }
    Ok(Term {
        letters,
        ellipsis_at: after.map(|_| before.len()),
    })
}

/// Parses `equation` for `operands` inputs.
pub fn parse(equation: &str, operands: usize) -> Result<Equation, String> {
    let text: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match text.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (text.as_str(), None),
    };
    let inputs = lhs
        .split(',')
        .map(|t| term(t, equation))
        .collect::<Result<Vec<_>, _>>()?;
    if inputs.len() != operands {
        return Err(format!(
            "equation '{equation}' has {} terms for {operands} inputs",
            inputs.len()
        ));
    }
    let any_ellipsis = inputs.iter().any(|t| t.ellipsis_at.is_some());
    let output = match rhs {
        Some(r) => {
            let out = term(r, equation)?;
            for &l in &out.letters {
                if !inputs.iter().any(|t| t.letters.contains(&l)) {
                    return Err(format!(
                        "equation '{equation}': output label '{}' is in no input",
                        l as u8 as char
                    ));
                }
            }
            if out.ellipsis_at.is_some() && !any_ellipsis {
                return Err(format!(
                    "equation '{equation}': '...' in the output but in no input"
                ));
            }
            out
        }
        None => {
            let mut once: Vec<Label> = Vec::new();
            for t in &inputs {
                for &l in &t.letters {
                    let count = inputs.iter().filter(|u| u.letters.contains(&l)).count();
                    if count == 1 && !once.contains(&l) {
                        once.push(l);
                    }
                }
            }
            once.sort_unstable();
            Term {
                letters: once,
                ellipsis_at: any_ellipsis.then_some(0),
            }
        }
    };
    Ok(Equation { inputs, output })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letters(s: &str) -> Vec<Label> {
        s.bytes().map(Label::from).collect()
    }

    #[test]
    fn explicit_implicit_and_ellipsis_forms_parse() {
        let e = parse("bhqd, bhkd -> bhqk", 2).unwrap();
        assert_eq!(e.output.letters, letters("bhqk"));
        // Implicit: the labels used once, alphabetically (j is summed).
        let e = parse("kj,ji", 2).unwrap();
        assert_eq!(e.output.letters, letters("ik"));
        let e = parse("...ij,...jk->...ik", 2).unwrap();
        assert_eq!(
            e.inputs[0].labels(4).unwrap()[..2],
            [ellipsis(1), ellipsis(0)]
        );
        assert_eq!(e.inputs[1].labels(3).unwrap()[0], ellipsis(0));
        assert_eq!(e.output.labels(4).unwrap().len(), 4);
        assert_eq!(parse("i,j->ij", 2).unwrap().inputs.len(), 2);
    }

    #[test]
    fn unsupported_and_malformed_equations_say_why() {
        for (eq, n, why) in [
            ("ii->i", 1, "appears twice"),
            ("ij,jk->ik", 1, "2 terms for 1 inputs"),
            ("ij->ik", 1, "output label 'k'"),
            ("i1->i", 1, "not a letter"),
            ("ij->...i", 1, "'...' in the output"),
        ] {
            let e = parse(eq, n).unwrap_err();
            assert!(e.contains(why) && e.contains(eq), "{eq}: {e}");
        }
    }
}
