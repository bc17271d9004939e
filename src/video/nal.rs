//! H.264 NAL units between the two ways of framing them: Annex B (start codes `00 00 01`, what
//! OpenH264 reads and writes) and AVCC (a big-endian length before each unit, what MP4 samples hold).
//! Written by hand: it is a few loops, and the crates that do it come with whole codec stacks.

/// NAL unit types used here (ITU-T H.264 Table 7-1).
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;

/// The type of a NAL unit (its header byte's low 5 bits); `None` for an empty unit.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|h| h & 0x1f)
}

/// A NAL unit without its Annex-B start code (`00 00 01` or `00 00 00 01`).
pub fn strip_start_code(nal: &[u8]) -> &[u8] {
    if let Some(rest) = nal.strip_prefix(&[0, 0, 0, 1]) {
        rest
    } else if let Some(rest) = nal.strip_prefix(&[0, 0, 1]) {
        rest
    } else {
        nal
    }
}

/// Appends `nal` (without start code) to `out` as Annex B.
pub fn push_annexb(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&[0, 0, 0, 1]);
    out.extend_from_slice(nal);
}

/// Appends `nal` (without start code) to `out` with a 4-byte length, as MP4 samples hold them.
pub fn push_avcc(out: &mut Vec<u8>, nal: &[u8]) {
    out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
    out.extend_from_slice(nal);
}

/// An AVCC sample (units each preceded by a `length_size`-byte big-endian length) as Annex B,
/// or a description of where it is malformed.
pub fn avcc_to_annexb(sample: &[u8], length_size: usize) -> Result<Vec<u8>, String> {
    if !(1..=4).contains(&length_size) {
        return Err(format!("NAL length size {length_size} is not 1 to 4"));
    }
    let mut out = Vec::with_capacity(sample.len() + 16);
    let mut rest = sample;
    while !rest.is_empty() {
        if rest.len() < length_size {
            return Err(format!(
                "{} trailing bytes are too few for a NAL length",
                rest.len()
            ));
        }
        let (len, tail) = rest.split_at(length_size);
        let n = len
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        if n > tail.len() {
            return Err(format!(
                "a NAL unit of {n} bytes overruns the sample ({} bytes left)",
                tail.len()
            ));
        }
        let (nal, tail) = tail.split_at(n);
        if !nal.is_empty() {
            push_annexb(&mut out, nal);
        }
        rest = tail;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avcc_becomes_annexb() {
        let sample = [0, 0, 0, 2, 0x65, 0xaa, 0, 0, 0, 1, 0x06];
        assert_eq!(
            avcc_to_annexb(&sample, 4).unwrap(),
            [0, 0, 0, 1, 0x65, 0xaa, 0, 0, 0, 1, 0x06]
        );
        assert_eq!(
            avcc_to_annexb(&[1, 0x41, 0, 1, 0x41], 1).unwrap(),
            [0, 0, 0, 1, 0x41, 0, 0, 0, 1, 0x41]
        );
        let mut avcc = Vec::new();
        push_avcc(&mut avcc, &[0x67, 1, 2]);
        assert_eq!(avcc, [0, 0, 0, 3, 0x67, 1, 2]);
    }

    #[test]
    fn malformed_avcc_is_an_error() {
        assert!(avcc_to_annexb(&[0, 0, 0, 9, 0x65], 4).is_err());
        assert!(avcc_to_annexb(&[0, 0], 4).is_err());
        assert!(avcc_to_annexb(&[1, 2], 0).is_err());
    }

    #[test]
    fn start_codes_and_types() {
        assert_eq!(strip_start_code(&[0, 0, 0, 1, 0x67, 9]), [0x67, 9]);
        assert_eq!(strip_start_code(&[0, 0, 1, 0x68]), [0x68]);
        assert_eq!(nal_type(&[0x67]), Some(NAL_SPS));
        assert_eq!(nal_type(&[0x65]), Some(NAL_IDR));
        assert_eq!(nal_type(&[]), None);
    }
}
