//! Kubernetes resource quantities (`500m`, `2`, `8Gi`, `1G`), as the
//! apiserver reads them (k8s.io/apimachinery `resource.Quantity`: binary
//! suffixes Ki..Ei, decimal suffixes m, k, M..E, plain and exponent
//! numbers).

use crate::CapacityError;

/// A quantity's value as a float of base units (cores, bytes).
fn value(s: &str, what: &'static str) -> Result<f64, CapacityError> {
    let bad = || CapacityError::Quantity {
        what,
        value: s.to_string(),
    };
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (number, suffix) = t.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return Err(bad()),
    };
    if !number.is_finite() || number < 0.0 {
        return Err(bad());
    }
    Ok(number * scale)
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
