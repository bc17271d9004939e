//! `report.md` and a self-contained `report.html` (every plot, sound and animation inlined as a
//! data URI: one file to mail or archive, no network).

use super::showcase::Showcase;
use super::summary::{Mode, Row, Summary};
use crate::error::Result;
use crate::fs::write_atomic;
use crate::media::plot::{Curve, accuracy_png};
use base64::Engine;
use std::fmt::Write;
use std::path::Path;

fn pct(v: f64) -> String {
    format!("{:.1}%", 100.0 * v)
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn mode(m: Mode) -> &'static str {
    m.name()
}

/// Ensemble rows, each with the running accuracy after every component: `(row label, cells)`.
fn ensemble_lines(summary: &Summary) -> Vec<(String, Vec<String>)> {
    summary
        .rows
        .iter()
        .filter(|r| !r.components.is_empty())
        .map(|r| {
            let label = format!(
                "{} at eps {}, {} ({})",
                r.attack,
                r.eps,
                r.defence,
                mode(r.mode)
            );
            let cells = r
                .components
                .iter()
                .map(|c| {
                    let free = if c.gradient_free { ", scores only" } else { "" };
                    format!(
                        "{}: {} ({} fooled{free})",
                        c.name,
                        pct(c.accuracy),
                        c.fooled
                    )
                })
                .collect();
            (label, cells)
        })
        .collect()
}

/// Universal perturbations fitted on the train part, one line per fit (the bare model's, shared
/// by the direct and transfer rows, and each adaptive defence's): `(fit, what it did)`.
fn universal_lines(summary: &Summary) -> Vec<(String, String)> {
    let mut lines: Vec<(String, String)> = Vec::new();
    for r in &summary.rows {
        let Some(rate) = r.fit_fooling_rate else {
            continue;
        };
        let label = match r.mode {
            Mode::Adaptive => format!(
                "{} at eps {}, fitted through {}",
                r.attack, r.eps, r.defence
            ),
            _ => format!("{} at eps {}, fitted on the bare model", r.attack, r.eps),
        };
        let test = format!("{} ({}) {}", r.defence, mode(r.mode), pct(r.accuracy));
        match lines.iter_mut().find(|(l, _)| *l == label) {
            Some((_, text)) => {
                text.push_str(", ");
                text.push_str(&test);
            }
            None => lines.push((
                label,
                format!(
                    "fooling rate {} on its train examples; test accuracy: {test}",
                    pct(rate)
                ),
            )),
        }
    }
    lines
}

const COLUMNS: [&str; 12] = [
    "attack",
    "eps",
    "defence",
    "mode",
    "accuracy",
    "success",
    "noise acc.",
    "L∞ mean",
    "L2 mean",
    "SNR / PSNR dB",
    "s / example",
    "queries / example (out, grad)",
];

fn cells(r: &Row) -> [String; 12] {
    [
        r.attack.clone(),
        r.eps.to_string(),
        r.defence.clone(),
        mode(r.mode).into(),
        pct(r.accuracy),
        pct(r.success_rate),
        r.noise_accuracy.map_or("–".into(), pct),
        format!("{:.4}", r.linf_mean),
        format!("{:.4}", r.l2_mean),
        opt(r.snr_db_mean.or(r.psnr_db_mean), 1),
        format!("{:.3}", r.seconds_per_example),
        match (r.forwards_per_example, r.gradients_per_example) {
            (Some(f), Some(g)) => format!("{f:.1}, {g:.1}"),
            _ => "–".into(),
        },
    ]
}

/// A radius in input units with the digits that matter at its size (int16 steps or pixel values).
fn radius(r: f64) -> String {
    match r.abs() {
        a if a >= 100.0 => format!("{r:.0}"),
        a if a >= 1.0 => format!("{r:.2}"),
        _ => format!("{r:.4}"),
    }
}

/// The perceptual measures' table: the row's identity, then one column per measure some row has
/// (PESQ, STOI and segmental SNR for audio; SSIM and flicker for video), over the rows that have
/// any. A second table rather than more columns in the first, which is wide already. `None` when
/// no row has a perceptual measure (certification-only scenarios, audio models without a rate).
fn perceptual_table(summary: &Summary) -> Option<(Vec<&'static str>, Vec<Vec<String>>)> {
    type Get = fn(&Row) -> Option<f64>;
    let measures: [(&str, Get, usize); 6] = [
        ("PESQ (MOS-LQO)", |r| r.pesq_mean, 2),
        ("STOI", |r| r.stoi_mean, 3),
        ("seg. SNR dB", |r| r.seg_snr_db_mean, 1),
        ("energy masked", |r| r.masked_energy_mean, 3),
        ("SSIM", |r| r.ssim_mean, 4),
        ("flicker", |r| r.flicker_mean, 4),
    ];
    let present: Vec<_> = measures
        .into_iter()
        .filter(|(_, get, _)| summary.rows.iter().any(|r| get(r).is_some()))
        .collect();
    if present.is_empty() {
        return None;
    }
    let mut columns = vec!["attack", "eps", "defence", "mode"];
    columns.extend(present.iter().map(|(name, _, _)| *name));
    let rows = summary
        .rows
        .iter()
        .filter(|r| present.iter().any(|(_, get, _)| get(r).is_some()))
        .map(|r| {
            let mut cells = vec![
                r.attack.clone(),
                r.eps.to_string(),
                r.defence.clone(),
                mode(r.mode).into(),
            ];
            cells.extend(present.iter().map(|(_, get, digits)| opt(get(r), *digits)));
            cells
        })
        .collect();
    Some((columns, rows))
}

/// Per `[[certify]]` table: a sentence, and (radius, certified accuracy) cells.
fn certified_sections(summary: &Summary) -> Vec<(String, Vec<(String, String)>)> {
    summary
        .certified
        .iter()
        .map(|c| {
            let sentence = format!(
                "{}: sigma {}, n0 {}, n {}, alpha {}: the smoothed model is right on {} of {} \
                 examples ({}), abstains on {}; median certified radius of its right answers {}",
                c.label,
                c.sigma,
                c.n0,
                c.n,
                c.alpha,
                (c.accuracy * c.examples as f64).round(),
                c.examples,
                pct(c.accuracy),
                c.abstained,
                c.median_radius_db
                    .map_or("–".into(), |db| format!("{db:.1} dB re signal")),
            );
            let cells = c
                .curve
                .iter()
                .map(|p| (radius(p.radius), pct(p.accuracy)))
                .collect();
            (sentence, cells)
        })
        .collect()
}

/// The Markdown report.
pub fn markdown(summary: &Summary, showcase: &[Showcase]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Robustness evaluation: {}\n", summary.scenario);
    let _ = writeln!(
        md,
        "Model `{}` ({}), {} examples, seed {}.\n",
        summary.model, summary.modality, summary.examples, summary.seed
    );
    let _ = writeln!(md, "## Clean accuracy\n\n| defence | accuracy |\n|---|---|");
    let _ = writeln!(md, "| none | {} |", pct(summary.clean_accuracy));
    for d in &summary.defended_clean_accuracy {
        let _ = writeln!(md, "| {} | {} |", d.defence, pct(d.accuracy));
    }
    let _ = writeln!(md, "\n## Under attack\n");
    let _ = writeln!(md, "| {} |", COLUMNS.join(" | "));
    let _ = writeln!(md, "|{}", "---|".repeat(COLUMNS.len()));
    for r in &summary.rows {
        let _ = writeln!(md, "| {} |", cells(r).join(" | "));
    }
    if let Some((columns, rows)) = perceptual_table(summary) {
        let _ = writeln!(md, "\n## Perceptual measures (means)\n");
        let _ = writeln!(md, "| {} |", columns.join(" | "));
        let _ = writeln!(md, "|{}", "---|".repeat(columns.len()));
        for row in rows {
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
    }
    let ensembles = ensemble_lines(summary);
    if !ensembles.is_empty() {
        let _ = writeln!(md, "\n## Ensembles: accuracy after each component\n");
        for (label, cells) in &ensembles {
            let _ = writeln!(md, "- {label}: {}", cells.join(" → "));
        }
    }
    let universal = universal_lines(summary);
    if !universal.is_empty() {
        let _ = writeln!(
            md,
            "\n## Universal perturbations: fitted on the train part, measured on the test part\n"
        );
        for (label, text) in &universal {
            let _ = writeln!(md, "- {label}: {text}");
        }
    }
    for (sentence, cells) in certified_sections(summary) {
        let _ = writeln!(
            md,
            "\n## Certified accuracy (randomised smoothing)\n\n{sentence}.\n\n\
             | L2 radius | certified accuracy |\n|---|---|"
        );
        for (radius, accuracy) in cells {
            let _ = writeln!(md, "| {radius} | {accuracy} |");
        }
    }
    let _ = writeln!(md, "\n## Sanity checks\n");
    for c in &summary.checks {
        let mark = if c.passed { "pass" } else { "**FAIL**" };
        let _ = writeln!(md, "- {mark} `{}`: {}", c.name, c.detail);
    }
    if !summary.warnings.is_empty() {
        let _ = writeln!(md, "\n## Warnings\n");
        for w in &summary.warnings {
            let _ = writeln!(md, "- {w}");
        }
    }
    if !showcase.is_empty() {
        let _ = writeln!(md, "\n## Examples\n");
        for s in showcase {
            let _ = writeln!(
                md,
                "- `{}` (true class {}), {} at eps {}:",
                s.id, s.label, s.attack, s.eps
            );
            for item in &s.items {
                let _ = writeln!(
                    md,
                    "  - {}: predicted {} ([{}]({}))",
                    item.title, item.class, item.media, item.path
                );
            }
            for p in &s.plots {
                let _ = writeln!(md, "  - ![{p}]({p})");
            }
        }
    }
    let _ = writeln!(
        md,
        "\n{:.1} s of compute in all ({:.3} s per example).",
        summary.timing.compute_seconds, summary.timing.seconds_per_example
    );
    md
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn data_uri(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The accuracy-versus-eps charts: one per attack, a line per defence and mode, plus noise.
fn charts(summary: &Summary) -> Result<Vec<(String, Vec<u8>)>> {
    let mut attacks: Vec<&str> = Vec::new();
    for r in &summary.rows {
        if !attacks.contains(&r.attack.as_str()) {
            attacks.push(&r.attack);
        }
    }
    let mut out = Vec::new();
    for attack in attacks {
        let mut curves: Vec<Curve> = Vec::new();
        let rows: Vec<&Row> = summary.rows.iter().filter(|r| r.attack == attack).collect();
        for r in &rows {
            let name = match r.mode {
                Mode::Direct => "no defence".to_string(),
                m => format!("{} ({})", r.defence, mode(m)),
            };
            let point = (f64::from(r.eps), r.accuracy);
            match curves.iter_mut().find(|(n, _)| *n == name) {
                Some((_, pts)) => pts.push(point),
                None => curves.push((name, vec![point])),
            }
        }
        let noise: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.mode == Mode::Direct)
            .filter_map(|r| r.noise_accuracy.map(|a| (f64::from(r.eps), a)))
            .collect();
        if !noise.is_empty() {
            curves.push(("random noise, no defence".into(), noise));
        }
        for (_, pts) in &mut curves {
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let title = format!("{attack}: accuracy against eps");
        out.push((title.clone(), accuracy_png(&title, "eps", &curves)?));
    }
    Ok(out)
}

/// The HTML report: `dir` holds the showcase files it inlines.
pub fn html(summary: &Summary, showcase: &[Showcase], dir: &Path) -> Result<String> {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>avfoil: {0}</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f2f2f2}}td:nth-child(-n+4){{text-align:left}}.fail{{color:#b00;font-weight:bold}}\
         .pass{{color:#080}}.warn{{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em}}\
         figure{{display:inline-block;margin:.5em;vertical-align:top}}img.plot{{max-width:100%}}\
         img.clip{{width:240px;image-rendering:pixelated}}\
         </style></head><body>\n<h1>Robustness evaluation: {0}</h1>\n<p>Model <code>{1}</code> ({2}), \
         {3} examples, seed {4}.</p>\n",
        escape(&summary.scenario),
        escape(&summary.model),
        summary.modality,
        summary.examples,
        summary.seed
    );
    if !summary.warnings.is_empty() {
        h.push_str("<div class=\"warn\"><h2>Warnings</h2><ul>\n");
        for w in &summary.warnings {
            let _ = writeln!(h, "<li>{}</li>", escape(w));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str(
        "<h2>Clean accuracy</h2>\n<table id=\"clean\"><tr><th>defence</th><th>accuracy</th></tr>\n",
    );
    let _ = writeln!(
        h,
        "<tr><td>none</td><td>{}</td></tr>",
        pct(summary.clean_accuracy)
    );
    for d in &summary.defended_clean_accuracy {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            escape(&d.defence),
            pct(d.accuracy)
        );
    }
    h.push_str("</table>\n<h2>Accuracy against eps</h2>\n");
    for (title, png) in charts(summary)? {
        let _ = writeln!(
            h,
            "<figure><img class=\"plot chart\" alt=\"{}\" src=\"{}\"></figure>",
            escape(&title),
            data_uri("image/png", &png)
        );
    }
    h.push_str("<h2>Under attack</h2>\n<table id=\"results\"><tr>");
    for c in COLUMNS {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr>\n");
    for r in &summary.rows {
        h.push_str("<tr>");
        for c in cells(r) {
            let _ = write!(h, "<td>{}</td>", escape(&c));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
    if let Some((columns, rows)) = perceptual_table(summary) {
        h.push_str("<h2>Perceptual measures (means)</h2>\n<table id=\"perceptual\"><tr>");
        for c in columns {
            let _ = write!(h, "<th>{}</th>", escape(c));
        }
        h.push_str("</tr>\n");
        for row in rows {
            h.push_str("<tr>");
            for c in row {
                let _ = write!(h, "<td>{}</td>", escape(&c));
            }
            h.push_str("</tr>\n");
        }
        h.push_str("</table>\n");
    }
    let ensembles = ensemble_lines(summary);
    if !ensembles.is_empty() {
        h.push_str("<h2>Ensembles: accuracy after each component</h2>\n<ul id=\"ensembles\">\n");
        for (label, cells) in &ensembles {
            let _ = writeln!(
                h,
                "<li>{}: {}</li>",
                escape(label),
                escape(&cells.join(" → "))
            );
        }
        h.push_str("</ul>\n");
    }
    let universal = universal_lines(summary);
    if !universal.is_empty() {
        h.push_str(
            "<h2>Universal perturbations: fitted on the train part, measured on the test part</h2>\n<ul id=\"universal\">\n",
        );
        for (label, text) in &universal {
            let _ = writeln!(h, "<li>{}: {}</li>", escape(label), escape(text));
        }
        h.push_str("</ul>\n");
    }
    for (sentence, cells) in certified_sections(summary) {
        let _ = writeln!(
            h,
            "<h2>Certified accuracy (randomised smoothing)</h2>\n<p>{}.</p>\n\
             <table class=\"certified\"><tr><th>L2 radius</th><th>certified accuracy</th></tr>",
            escape(&sentence)
        );
        for (radius, accuracy) in cells {
            let _ = writeln!(h, "<tr><td>{radius}</td><td>{accuracy}</td></tr>");
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Sanity checks</h2>\n<table id=\"checks\"><tr><th>check</th><th>result</th><th>detail</th></tr>\n");
    for c in &summary.checks {
        let (class, word) = if c.passed {
            ("pass", "pass")
        } else {
            ("fail", "FAIL")
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"{class}\">{word}</td><td style=\"text-align:left\">{}</td></tr>",
            escape(&c.name),
            escape(&c.detail)
        );
    }
    h.push_str("</table>\n");
    if !showcase.is_empty() {
        h.push_str("<h2>Examples</h2>\n");
    }
    for s in showcase {
        let _ = writeln!(
            h,
            "<section class=\"example\"><h3>{} (true class {}): {} at eps {}</h3>",
            escape(&s.id),
            escape(&s.label),
            escape(&s.attack),
            s.eps
        );
        for item in &s.items {
            let bytes = std::fs::read(dir.join(&item.path))
                .map_err(|e| crate::error::Error::io(dir.join(&item.path), e))?;
            let caption = format!("{}: predicted {}", item.title, item.class);
            let media = if item.path.ends_with(".wav") {
                format!(
                    "<audio controls src=\"{}\"></audio>",
                    data_uri("audio/wav", &bytes)
                )
            } else {
                format!(
                    "<img class=\"clip\" alt=\"{}\" src=\"{}\">",
                    escape(&item.title),
                    data_uri("image/gif", &bytes)
                )
            };
            let _ = writeln!(
                h,
                "<figure>{media}<figcaption>{}</figcaption></figure>",
                escape(&caption)
            );
        }
        for p in &s.plots {
            let bytes =
                std::fs::read(dir.join(p)).map_err(|e| crate::error::Error::io(dir.join(p), e))?;
            let _ = writeln!(
                h,
                "<figure><img class=\"plot\" alt=\"{}\" src=\"{}\"></figure>",
                escape(p),
                data_uri("image/png", &bytes)
            );
        }
        h.push_str("</section>\n");
    }
    let _ = writeln!(
        h,
        "<p>{:.1} s of compute in all ({:.3} s per example).</p></body></html>",
        summary.timing.compute_seconds, summary.timing.seconds_per_example
    );
    Ok(h)
}

/// Writes `summary.json`, `report.md` and `report.html` into `dir`.
pub fn write_all(summary: &Summary, showcase: &[Showcase], dir: &Path) -> Result<()> {
    write_atomic(
        &dir.join("summary.json"),
        serde_json::to_string_pretty(summary)
            .expect("plain data")
            .as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.md"),
        markdown(summary, showcase).as_bytes(),
    )?;
    write_atomic(
        &dir.join("report.html"),
        html(summary, showcase, dir)?.as_bytes(),
    )
}
