//! Shamir secret sharing over GF(2^8) as in sops (`shamir/shamir.go`, HashiCorp Vault style):
//! a share is the y-bytes followed by one x-coordinate byte.

use rand::Rng;
use rand::seq::SliceRandom;
use zeroize::Zeroizing;

/// Multiplication in GF(2^8) with the AES polynomial x^8 + x^4 + x^3 + x + 1.
fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut p = 0u8;
    while b != 0 {
        if b & 1 != 0 {
            p ^= a;
        }
        let hi = a & 0x80;
        a <<= 1;
        if hi != 0 {
            a ^= 0x1b;
        }
        b >>= 1;
    }
    p
}

fn inv(a: u8) -> u8 {
    // a^254 = a^-1 in GF(2^8) (a != 0).
    let mut r = 1u8;
    let mut base = a;
    let mut e = 254u32;
    while e > 0 {
        if e & 1 == 1 {
            r = mul(r, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    r
}

/// Splits `secret` into `parts` shares of which `threshold` are needed.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    if !(2..=255).contains(&parts) || threshold < 2 || threshold > parts {
        return Err(format!("invalid Shamir parameters: {parts} parts, threshold {threshold}"));
    }
    if secret.is_empty() {
        return Err("cannot split an empty secret".into());
    }
    let mut rng = rand::rngs::OsRng;
    let mut xs: Vec<u8> = (1..=255).collect();
    xs.shuffle(&mut rng);
    let mut out: Vec<Zeroizing<Vec<u8>>> =
        (0..parts).map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + 1))).collect();
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for &byte in secret {
        coeffs[0] = byte;
        for c in coeffs.iter_mut().skip(1) {
            *c = rng.r#gen();
        }
        for (i, share) in out.iter_mut().enumerate() {
            let x = xs[i];
            // Horner evaluation.
            let mut y = 0u8;
            for &c in coeffs.iter().rev() {
                y = mul(y, x) ^ c;
            }
            share.push(y);
        }
    }
    for (i, share) in out.iter_mut().enumerate() {
        share.push(xs[i]);
    }
    Ok(out)
}

/// Combines at least `threshold` shares back into the secret.
pub fn combine(parts: &[Zeroizing<Vec<u8>>]) -> Result<Zeroizing<Vec<u8>>, String> {
    if parts.len() < 2 {
        return Err("less than two shares cannot be combined".into());
    }
    let len = parts[0].len();
    if len < 2 || parts.iter().any(|p| p.len() != len) {
        return Err("shares have different or too short lengths".into());
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err("duplicate share".into());
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, p) in parts.iter().enumerate() {
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, mul(xj, inv(xs[i] ^ xj)));
                }
            }
            acc ^= mul(p[idx], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_combine_roundtrip_any_subset() {
        let secret: Vec<u8> = (0u8..32).collect();
        let shares = split(&secret, 3, 2).unwrap();
        for (a, b) in [(0, 1), (1, 2), (0, 2)] {
            let got = combine(&[shares[a].clone(), shares[b].clone()]).unwrap();
            assert_eq!(&got[..], &secret[..]);
        }
    }
}
