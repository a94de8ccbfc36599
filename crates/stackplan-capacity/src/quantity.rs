//! Kubernetes resource quantities (`500m`, `2`, `8Gi`, `1G`), as the
//! apiserver reads them (k8s.io/apimachinery `resource.Quantity`: binary
//! suffixes Ki..Ei, decimal suffixes m, k, M..E, plain and exponent
//! numbers).

use crate::CapacityError;

/// A Kubernetes quantity's value in base units (cores, bytes), as
/// apimachinery's `ParseQuantity` reads it: a signed decimal number, then
/// a binary suffix (Ki … Ei), a decimal one (n u m "" k M G T P E) or an
/// exponent (e3, E-2). `None` when it is not a quantity. The one parser
/// of the workspace: stackplan-kube compares manifests with it too.
pub fn quantity(q: &str) -> Option<f64> {
    let split = q
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && (*c == '+' || *c == '-'))))
        .map_or(q.len(), |(i, _)| i);
    let (num, suffix) = q.split_at(split);
    let digits = num.trim_start_matches(['+', '-']);
    if digits.is_empty() || digits == "." || digits.matches('.').count() > 1 {
        return None;
    }
    let n: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e[1..].parse().ok()?;
            10f64.powi(exp)
        }
        _ => return None,
    };
    Some(n * factor)
}

/// A request's value: a quantity, and not negative.
fn value(s: &str, what: &'static str) -> Result<f64, CapacityError> {
    match quantity(s.trim()) {
        Some(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(CapacityError::Quantity {
            what,
            value: s.to_string(),
        }),
    }
}

/// A CPU quantity in millicores, rounded up as the scheduler does.
pub fn cpu_millis(s: &str) -> Result<u64, CapacityError> {
    Ok((value(s, "CPU")? * 1000.0).ceil() as u64)
}

/// A memory or storage quantity in bytes, rounded up.
pub fn memory_bytes(s: &str) -> Result<u64, CapacityError> {
    Ok(value(s, "memory")?.ceil() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities_in_millicores() {
        assert_eq!(cpu_millis("500m"), Ok(500));
        assert_eq!(cpu_millis("2"), Ok(2000));
        assert_eq!(cpu_millis("0.25"), Ok(250));
        assert_eq!(cpu_millis("1.5"), Ok(1500));
        assert!(cpu_millis("two").is_err());
    }

    #[test]
    fn memory_quantities_binary_and_decimal() {
        assert_eq!(memory_bytes("8Gi"), Ok(8 << 30));
        assert_eq!(memory_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(memory_bytes("1G"), Ok(1_000_000_000));
        assert_eq!(memory_bytes("1e3"), Ok(1000));
        assert_eq!(memory_bytes("128974848"), Ok(128_974_848));
        assert!(memory_bytes("8 GB").is_err());
        assert!(memory_bytes("-1Gi").is_err());
    }
}
