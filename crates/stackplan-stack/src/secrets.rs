//! Which keys of a stack file hold secrets.
//!
//! This is the one list stackplan uses, both to refuse a plaintext value in
//! Helm values (`[milvus.values]`, `[load_balancer_controller.values]`) and
//! to mask values out of error snippets (`snippet.rs`). README's "Secrets"
//! section says the same in prose; change both together.
//!
//! A key is **secret-looking** when, lower-cased and with `_`, `-`, `.` and
//! white space removed, it contains one of [`SECRET_WORDS`]: so
//! `clientSecret`, `client-secret`, `CLIENT_SECRET`, `apiKey`, `api.key`,
//! `db_passwd` all are.
//!
//! A secret-looking key **holds** a secret unless it only names or
//! describes one (the exception rule). Look at the secret word that ends
//! last in the normalised key (`secretKeyRef`: `secretkey`):
//!
//! 1. Something other than a plural `s` or a word for the value itself
//!    ([`VALUE_WORDS`]: `value`, `data`, `hash`, ...) follows it: the key
//!    is about the secret, not the secret. `secretName`, `secretKeyRef`,
//!    `tokenTTL`, `passwordFile`, `passwordKey` (the key inside a
//!    Kubernetes Secret), `apiKeyId`. The compounds `apikey`, `privatekey`,
//!    `accesskey` and `secretkey` are words of the list so that `apiKey`
//!    or MinIO's `secretKey` end on a secret word rather than on `Key`.
//! 2. It is `secret` meaning a Kubernetes Secret object, whose name is not
//!    secret: the plural `secrets` (`imagePullSecrets`, `pullSecrets`,
//!    `existingSecrets`); `secret` right after one of
//!    [`SECRET_OBJECT_QUALIFIERS`] (`existingSecret`, `tlsSecret`,
//!    `certSecret`, `extraEnvVarsSecret`); or `secret`/`secretKey` after
//!    another secret word (`passwordsSecret`, `keystorePasswordSecretKey`:
//!    the Secret, or its key, that holds that password).
//!
//! Everything else holds a secret: `password`, `rootPassword`,
//! `accessToken`, `authToken`, `api_token`, `api_key`, `clientSecret`,
//! `privateKey`, `passphrase`, `credentials`, `secretKey`, `accessKey`.
//!
//! The rule was checked against every `values.yaml` of the Milvus charts
//! 4.1.28, 4.2.8 and 5.0.19 (subcharts included) and of the load balancer
//! controller chart 3.5.0: the keys the Milvus chart itself documents as
//! Secret names (`existingSecret`, `secretName`, `pullSecrets`) are names,
//! and what its `minio` and `externalS3` sections take as credentials
//! (`accessKey`, `secretKey`, `rootPassword`) are secrets. The one string
//! default the rule takes for a secret although it is not one is the
//! bundled MinIO's `tls.privateKey = "private.key"` (the file name of the
//! key inside `tls.certSecret`); the stack turns that MinIO off (S3), and
//! such a value is given as a reference or left at the chart's default.

/// The words that make a key secret-looking, in normalised form (lower
/// case, without `_`, `-`, `.` or spaces).
pub(crate) const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secretkey",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
];

/// What may follow the last secret word of a key that holds a secret: the
/// plural, or a word for the value itself (`passwordValue`, `tokenData`,
/// `passwordHash`, `secretB64`).
pub(crate) const VALUE_WORDS: &[&str] = &[
    "",
    "s",
    "value",
    "values",
    "data",
    "string",
    "text",
    "plain",
    "plaintext",
    "hash",
    "b64",
    "base64",
];

/// Words that, right before `secret`, make it a Kubernetes Secret object
/// (its name is given, not its content).
pub(crate) const SECRET_OBJECT_QUALIFIERS: &[&str] = &[
    "existing",
    "pull",
    "tls",
    "ca",
    "cert",
    "certs",
    "certificate",
    "certificates",
    "env",
    "envvars",
    "envfrom",
    "keystore",
    "truststore",
];

/// What a secret-looking key is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretKey {
    /// It holds the secret (`rootPassword`, `clientSecret`).
    Holds,
    /// It names or describes a secret (`secretName`, `existingSecret`).
    Names,
}

/// A key lower-cased, with `_`, `-`, `.` and white space removed.
pub(crate) fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.') && !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The secret word of a normalised key that ends last (on a tie, the
/// longest), as (start, end).
fn last_word(n: &str) -> Option<(usize, usize)> {
    SECRET_WORDS
        .iter()
        .flat_map(|w| n.match_indices(w).map(|(i, _)| (i, i + w.len())))
        .max_by_key(|&(start, end)| (end, std::cmp::Reverse(start)))
}

/// Whether a key is secret-looking at all, holding or naming a secret.
/// Error snippets mask values under all of them.
pub(crate) fn looks_secret(key: &str) -> bool {
    last_word(&normalise(key)).is_some()
}

/// Classifies a key; `None` when it is not secret-looking.
pub(crate) fn classify(key: &str) -> Option<SecretKey> {
    let n = normalise(key);
    let (start, end) = last_word(&n)?;
    let (before, word, rest) = (&n[..start], &n[start..end], &n[end..]);
    if !VALUE_WORDS.contains(&rest) {
        return Some(SecretKey::Names);
    }
    let after_secret_word = || last_word(before).is_some();
    let object = match word {
        "secret" if rest == "s" => true,
        "secret" => {
            SECRET_OBJECT_QUALIFIERS.iter().any(|q| before.ends_with(q)) || after_secret_word()
        }
        "secretkey" => after_secret_word(),
        _ => false,
    };
    Some(if object {
        SecretKey::Names
    } else {
        SecretKey::Holds
    })
}

/// Whether a string under this key must be a secret reference.
pub(crate) fn holds_secret(key: &str) -> bool {
    classify(key) == Some(SecretKey::Holds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(keys: &[&str], want: Option<SecretKey>) {
        for k in keys {
            assert_eq!(classify(k), want, "{k}");
        }
    }

    #[test]
    fn token_like_keys_hold_secrets_in_any_case_and_separator_style() {
        check(
            &[
                "accessToken",
                "authToken",
                "api_token",
                "api_key",
                "clientSecret",
                "privateKey",
                "passphrase",
                "client-secret",
                "CLIENT_SECRET",
                "apiKey",
                "api.key",
                "API Key",
                "password",
                "rootPassword",
                "db_passwd",
                "passwd",
                "adminPwd",
                "token",
                "secret",
                "secretKey",
                "accessKey",
                "secretAccessKey",
                "credentials",
                "clientPasswords",
                "privateKeyPassword",
                "passwordHash",
                "tokenValue",
            ],
            Some(SecretKey::Holds),
        );
    }

    #[test]
    fn keys_that_name_or_describe_a_secret_are_not_secrets() {
        check(
            &[
                "secretName",
                "secretKeyRef",
                "existingSecret",
                "existingSecretName",
                "existingSecretPasswordKey",
                "existingSecrets",
                "imagePullSecrets",
                "pullSecrets",
                "secrets",
                "tokenTTL",
                "passwordKey",
                "passwordFile",
                "bearerTokenFile",
                "secretFieldSelector",
                "tlsSecret",
                "tlsCaSecret",
                "certSecret",
                "trustedCertsSecret",
                "extraEnvVarsSecret",
                "envFromSecret",
                "jksTruststoreSecret",
                "passwordsSecret",
                "bearerTokenSecret",
                "keystorePasswordSecretKey",
                "envSecretName",
                "extraSecretMounts",
                "accessKeyId",
            ],
            Some(SecretKey::Names),
        );
    }

    #[test]
    fn ordinary_keys_are_not_secret_looking() {
        check(
            &[
                "replicas", "level", "username", "rootUser", "key", "keyId", "monkey", "passive",
                "enabled",
            ],
            None,
        );
    }
}
