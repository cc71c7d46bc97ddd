//! Splits one fuzz input into the files a reader takes: parts separated by a line `----`.

pub fn parts(data: &[u8], n: usize) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut rest = data;
    while out.len() + 1 < n {
        match rest.windows(6).position(|w| w == b"\n----\n") {
            Some(i) => {
                out.push(rest[..i].to_vec());
                rest = &rest[i + 6..];
            }
            None => break,
        }
    }
    out.push(rest.to_vec());
    out.resize(n, Vec::new());
    out
}
