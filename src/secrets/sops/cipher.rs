//! Per-value AES-256-GCM encryption in the `ENC[AES256_GCM,data:,iv:,tag:,type:]` form, the
//! data key type, and the conversion of scalars to the plaintext bytes sops encrypts and hashes.

use std::fmt;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use zeroize::Zeroizing;

use super::tree::Value;

/// AES-256-GCM with the 32-byte nonce sops uses.
type SopsGcm = AesGcm<Aes256, U32>;

/// The 32-byte data key that encrypts every value of a file. Zeroized on drop; Debug prints `[redacted]`.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> DataKey {
        let mut k = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(k.as_mut());
        DataKey(k)
    }

    /// A data key from exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }

    /// The raw key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The `type:` of an encrypted value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// `str`
    Str,
    /// `int`
    Int,
    /// `float`
    Float,
    /// `bool`
    Bool,
    /// `comment`
    Comment,
    /// `time` (kept as a string here)
    Time,
    /// `bytes` (read only, kept as a string)
    Bytes,
}

impl ValueType {
    fn as_str(self) -> &'static str {
        match self {
            ValueType::Str => "str",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Comment => "comment",
            ValueType::Time => "time",
            ValueType::Bytes => "bytes",
        }
    }

    fn parse(s: &str) -> Option<ValueType> {
        Some(match s {
            "str" => ValueType::Str,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "bool" => ValueType::Bool,
            "comment" => ValueType::Comment,
            "time" => ValueType::Time,
            "bytes" => ValueType::Bytes,
            _ => return None,
        })
    }
}

/// Whether a string has the shape of an encrypted sops value.
pub fn is_encrypted(s: &str) -> bool {
    s.starts_with("ENC[AES256_GCM,") && s.ends_with(']')
}

/// Encrypts `plain` with a fresh random 32-byte IV; `aad` is the key path joined with `:` plus `:`.
pub fn encrypt(plain: &[u8], ty: ValueType, key: &DataKey, aad: &str) -> Result<String, String> {
    encrypt_with_iv(plain, ty, key, aad, None)
}

/// Encrypts with the given IV (sops' "IV stash": an unchanged value re-encrypted under the same
/// key and path keeps its ciphertext), or a fresh random one.
pub fn encrypt_with_iv(
    plain: &[u8],
    ty: ValueType,
    key: &DataKey,
    aad: &str,
    iv: Option<[u8; 32]>,
) -> Result<String, String> {
    let iv = iv.unwrap_or_else(|| {
        let mut iv = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        iv
    });
    let cipher = SopsGcm::new_from_slice(key.expose()).map_err(|_| "bad key length".to_string())?;
    let out = cipher
        .encrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: plain, aad: aad.as_bytes() })
        .map_err(|_| "AES-GCM encryption failed".to_string())?;
    let (data, tag) = out.split_at(out.len() - 16);
    Ok(format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        B64.encode(data),
        B64.encode(iv),
        B64.encode(tag),
        ty.as_str()
    ))
}

/// The 32-byte IV of an `ENC[...]` string, if it has one.
pub fn iv_of(enc: &str) -> Option<[u8; 32]> {
    let start = enc.find(",iv:")? + 4;
    let len = enc[start..].find(',')?;
    B64.decode(&enc[start..start + len]).ok()?.try_into().ok()
}

/// Decrypts an `ENC[...]` string; returns the plaintext bytes and the value type.
pub fn decrypt(enc: &str, key: &DataKey, aad: &str) -> Result<(Zeroizing<Vec<u8>>, ValueType), String> {
    let inner = enc
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| "not in sops' ENC[AES256_GCM,...] format".to_string())?;
    let (mut data, mut iv, mut tag, mut ty) = (None, None, None, None);
    for part in inner.split(',') {
        let (k, v) = part.split_once(':').ok_or_else(|| "malformed ENC[] field".to_string())?;
        match k {
            "data" => data = Some(v),
            "iv" => iv = Some(v),
            "tag" => tag = Some(v),
            "type" => ty = Some(v),
            _ => return Err(format!("unknown ENC[] field `{k}`")),
        }
    }
    let (Some(data), Some(iv), Some(tag), Some(ty)) = (data, iv, tag, ty) else {
        return Err("ENC[] value lacks data, iv, tag or type".into());
    };
    let ty = ValueType::parse(ty).ok_or_else(|| format!("unknown datatype `{ty}`"))?;
    let b64 = |s: &str, what: &str| B64.decode(s).map_err(|_| format!("invalid base64 in {what}"));
    let mut buf = b64(data, "data")?;
    let iv = b64(iv, "iv")?;
    let tag = b64(tag, "tag")?;
    if iv.len() != 32 {
        return Err(format!("unsupported IV length {} (expected 32)", iv.len()));
    }
    if tag.len() != 16 {
        return Err(format!("invalid tag length {}", tag.len()));
    }
    buf.extend_from_slice(&tag);
    let cipher = SopsGcm::new_from_slice(key.expose()).map_err(|_| "bad key length".to_string())?;
    let plain =
        cipher.decrypt(Nonce::<U32>::from_slice(&iv), Payload { msg: &buf, aad: aad.as_bytes() }).map_err(
            |_| "authentication failed (wrong data key, wrong key path or tampered value)".to_string(),
        )?;
    Ok((Zeroizing::new(plain), ty))
}

/// The plaintext bytes of a scalar, exactly as Go sops' `ToBytes` (also what the MAC hashes).
/// Returns `None` for null, maps and lists.
pub fn scalar_bytes(v: &Value) -> Option<(Zeroizing<Vec<u8>>, ValueType)> {
    let (bytes, ty) = match v {
        Value::Str(s) => (s.as_bytes().to_vec(), ValueType::Str),
        Value::Int(i) => (i.to_string().into_bytes(), ValueType::Int),
        Value::Float(f) => (go_format_float_f(*f).into_bytes(), ValueType::Float),
        Value::Bool(b) => ((if *b { "True" } else { "False" }).as_bytes().to_vec(), ValueType::Bool),
        Value::Null | Value::Map(_) | Value::List(_) => return None,
    };
    Some((Zeroizing::new(bytes), ty))
}

/// Builds the value of a decrypted plaintext of type `ty` (not for comments).
pub fn value_from_plain(plain: &[u8], ty: ValueType) -> Result<Value, String> {
    let text = std::str::from_utf8(plain).map_err(|_| "plaintext is not UTF-8".to_string())?;
    Ok(match ty {
        ValueType::Str | ValueType::Time | ValueType::Bytes | ValueType::Comment => {
            Value::Str(text.to_string())
        }
        ValueType::Int => {
            Value::Int(text.parse().map_err(|_| "type:int value is not an integer".to_string())?)
        }
        ValueType::Float => Value::Float(go_parse_float(text).ok_or("type:float value is not a number")?),
        ValueType::Bool => Value::Bool(go_parse_bool(text).ok_or("type:bool value is not a boolean")?),
    })
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
pub fn go_format_float_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        // Rust's Display is shortest-round-trip and never uses an exponent, like Go's 'f', -1.
        format!("{f}")
    }
}

/// Shortest digits and decimal exponent of a finite non-zero float: (negative, digits, exp)
/// where the value is 0.d1d2… × 10^(exp+1), i.e. `exp` is the exponent of the first digit.
fn shortest_parts(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs()); // e.g. "1.2345e3", "1e21"
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (f.is_sign_negative(), digits, exp)
}

fn exp_form(neg: bool, digits: &str, exp: i32, min_exp_digits: usize) -> String {
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    s.push_str(&digits[..1]);
    if digits.len() > 1 {
        s.push('.');
        s.push_str(&digits[1..]);
    }
    s.push('e');
    s.push(if exp < 0 { '-' } else { '+' });
    s.push_str(&format!("{:0width$}", exp.abs(), width = min_exp_digits));
    s
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` as the YAML encoder writes floats: an exponent
/// when the decimal exponent is < -4 or >= 6 (Go's rule for the shortest precision).
pub fn go_format_float_yaml(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (neg, digits, exp) = shortest_parts(f);
    if !(-4..6).contains(&exp) { exp_form(neg, &digits, exp, 2) } else { format!("{f}") }
}

/// Go `encoding/json` float64 formatting.
pub fn go_format_float_json(f: f64) -> String {
    if !f.is_finite() {
        // encoding/json refuses these; sops never produces them from JSON.
        return go_format_float_f(f);
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digits, exp) = shortest_parts(f);
        exp_form(neg, &digits, exp, 1)
    } else {
        format!("{f}")
    }
}

/// Go `strconv.ParseFloat(s, 64)` for the forms sops writes.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let t = s.strip_prefix('+').unwrap_or(s);
    match t.to_ascii_lowercase().as_str() {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY });
        }
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    t.replace('_', "").parse().ok()
}

/// Go `strconv.ParseBool`.
pub fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_formats_match_go() {
        assert_eq!(go_format_float_f(1e21), "1000000000000000000000");
        assert_eq!(go_format_float_f(0.25), "0.25");
        assert_eq!(go_format_float_f(2.0), "2");
        assert_eq!(go_format_float_yaml(1e21), "1e+21");
        assert_eq!(go_format_float_yaml(4.5), "4.5");
        assert_eq!(go_format_float_yaml(1e6), "1e+06");
        assert_eq!(go_format_float_yaml(123456.0), "123456");
        assert_eq!(go_format_float_yaml(1.5e-7), "1.5e-07");
        assert_eq!(go_format_float_json(1e21), "1e+21");
        assert_eq!(go_format_float_json(1.5e-7), "1.5e-7");
        assert_eq!(go_format_float_json(9007199254740992.0), "9007199254740992");
    }

    #[test]
    fn roundtrip_and_aad_binding() {
        let key = DataKey::generate();
        let enc = encrypt(b"hello", ValueType::Str, &key, "a:b:").unwrap();
        let (plain, ty) = decrypt(&enc, &key, "a:b:").unwrap();
        assert_eq!(&plain[..], b"hello");
        assert_eq!(ty, ValueType::Str);
        assert!(decrypt(&enc, &key, "a:").is_err());
    }
}
