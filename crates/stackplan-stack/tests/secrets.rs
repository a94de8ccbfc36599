//! A plaintext secret never leaves the parser: under a secret-looking key
//! of any Helm values table it is refused, naming the file, line and
//! field, and no error text shows it (the message, the snippet of the
//! miette report, the error's Debug form), whether it sits under a secret
//! key, a misspelt one or a key the parser does not know.

use miette::{GraphicalReportHandler, GraphicalTheme};
use stackplan_core::{SecretSource, Value};
use stackplan_stack::{Stack, StackError, parse};

const REFERENCE: &str = include_str!("../../../stacks/milvus-eks.toml");
const SENTINEL: &str = "Sentinel-7c1e-plaintext";

/// Every text an error gives: Display, each problem with its label and
/// hint, the rendered miette report with its snippets, Debug, and the
/// whole source text it carries for snippets (what any report could show).
fn all_error_text(err: &StackError) -> String {
    let source = match err {
        StackError::Invalid { src, .. } => src.inner().clone(),
        _ => String::new(),
    };
    let mut report = String::new();
    GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
        .with_width(200)
        .render_report(&mut report, err)
        .unwrap();
    let problems: Vec<String> = err
        .problems()
        .iter()
        .map(|p| format!("{p} | {} | {:?}", p.label, p.hint))
        .collect();
    format!(
        "{err}\n{}\n{report}\n{err:?}\n{source}",
        problems.join("\n")
    )
}

/// The stack file is refused, and nothing of the sentinel (not even a part
/// of it) appears in any error text. Returns the error.
#[track_caller]
fn refused_without_leaking(text: &str) -> StackError {
    let err = parse("stack.toml", text).expect_err("the stack must be refused");
    let all = all_error_text(&err);
    for part in [SENTINEL, "Sentinel", "7c1e"] {
        assert!(!all.contains(part), "`{part}` leaked:\n{all}");
    }
    err
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset].matches('\n').count() + 1
}

/// The error has a problem with this message, on the line where `needle`
/// first is, with a hint naming both kinds of reference.
#[track_caller]
fn has_plaintext_problem(err: &StackError, text: &str, field: &str, needle: &str) {
    let want = format!("`{field}` holds a plaintext secret");
    let p = err
        .problems()
        .iter()
        .find(|p| p.message == want)
        .unwrap_or_else(|| panic!("no problem `{want}` in {:#?}", err.problems()));
    assert_eq!(p.label, "plaintext secret");
    let hint = p.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("env:NAME") && hint.contains("secretsmanager:"),
        "{hint}"
    );
    let line = text[..text.find(needle).unwrap()].matches('\n').count() + 1;
    assert_eq!(line_of(text, p.span.offset()), line, "{field}");
}

fn with_values(section: &str, body: &str) -> String {
    format!("{REFERENCE}\n[{section}]\n{body}\n")
}

fn values_of(stack: &Stack, release: &str) -> Value {
    match release {
        "milvus" => stack.milvus.as_ref().unwrap().values.clone(),
        _ => stack
            .load_balancer_controller
            .as_ref()
            .unwrap()
            .values
            .clone(),
    }
}

fn at<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| match v {
        Value::Map(m) => m.get(*k).unwrap_or_else(|| panic!("no `{k}` in {v:?}")),
        _ => panic!("`{k}`: not a map: {v:?}"),
    })
}

const SEVEN_KEYS: [&str; 7] = [
    "accessToken",
    "authToken",
    "api_token",
    "api_key",
    "clientSecret",
    "privateKey",
    "passphrase",
];

#[test]
fn each_token_like_key_in_milvus_values_refuses_plaintext_without_showing_it() {
    for key in SEVEN_KEYS {
        let text = with_values(
            "milvus.values",
            &format!("proxy = {{ {key} = \"{SENTINEL}\" }}"),
        );
        let err = refused_without_leaking(&text);
        has_plaintext_problem(
            &err,
            &text,
            &format!("milvus.values.proxy.{key}"),
            "proxy = {",
        );
    }
}

#[test]
fn each_token_like_key_in_the_controllers_values_refuses_plaintext_without_showing_it() {
    for key in SEVEN_KEYS {
        let text = with_values(
            "load_balancer_controller.values",
            &format!("{key} = \"{SENTINEL}\""),
        );
        let err = refused_without_leaking(&text);
        has_plaintext_problem(
            &err,
            &text,
            &format!("load_balancer_controller.values.{key}"),
            &format!("{key} = "),
        );
    }
}

#[test]
fn secret_keys_match_whatever_their_case_and_separators() {
    for key in [
        "client-secret",
        "CLIENT_SECRET",
        "apiKey",
        "\"api.key\"",
        "passwd",
        "DB_PASSWORD",
        "secretKey",
        "accessKey",
        "credentials",
    ] {
        let text = with_values("milvus.values", &format!("{key} = \"{SENTINEL}\""));
        let err = refused_without_leaking(&text);
        assert!(
            err.problems()
                .iter()
                .any(|p| p.message.ends_with("holds a plaintext secret")),
            "{key}: {:#?}",
            err.problems()
        );
    }
}

#[test]
fn plaintext_in_lists_and_env_vars_under_a_secret_name_is_refused() {
    let text = with_values(
        "milvus.values",
        &format!(
            "kafka = {{ clientPasswords = [\"{SENTINEL}\"] }}\nextraEnv = [{{ name = \"API_TOKEN\", value = \"{SENTINEL}\" }}]"
        ),
    );
    let err = refused_without_leaking(&text);
    has_plaintext_problem(
        &err,
        &text,
        "milvus.values.kafka.clientPasswords[0]",
        "kafka = {",
    );
    has_plaintext_problem(&err, &text, "milvus.values.extraEnv[0].value", "extraEnv");
}

#[test]
fn generate_is_refused_in_helm_values() {
    let text = with_values("milvus.values", "minio = { secretKey = \"generate\" }");
    let err = parse("stack.toml", &text).unwrap_err();
    assert!(
        err.problems()[0]
            .message
            .contains("`milvus.values.minio.secretKey` cannot be \"generate\""),
        "{:#?}",
        err.problems()
    );
}

#[test]
fn references_under_secret_keys_become_secret_values() {
    let text = with_values(
        "milvus.values",
        "externalS3 = { accessKey = \"env:S3_ACCESS_KEY\", secretKey = \"secretsmanager:arn:aws:secretsmanager:us-west-2:123456789012:secret:s3-AbCdEf\" }\nextraEnv = [{ name = \"API_TOKEN\", value = \"env:API_TOKEN\" }]",
    );
    let stack = parse("stack.toml", &text).unwrap();
    let values = values_of(&stack, "milvus");
    assert_eq!(
        at(&values, &["externalS3", "accessKey"]),
        &Value::Secret(SecretSource::Env("S3_ACCESS_KEY".into()))
    );
    assert!(matches!(
        at(&values, &["externalS3", "secretKey"]),
        Value::Secret(SecretSource::SecretsManager(_))
    ));
    let Value::List(env) = at(&values, &["extraEnv"]) else {
        panic!("{values:?}")
    };
    assert_eq!(
        at(&env[0], &["value"]),
        &Value::Secret(SecretSource::Env("API_TOKEN".into()))
    );
}

/// Keys the Milvus and controller charts use to name a Kubernetes Secret,
/// or to describe one, take plain strings; booleans, numbers and empty
/// strings under secret keys hide nothing and are taken as they are.
#[test]
fn keys_that_name_a_secret_and_non_secret_values_are_taken_as_given() {
    let text = format!(
        "{}\n{}",
        with_values(
            "milvus.values",
            "minio = { existingSecret = \"milvus-minio-creds\", tls = { certSecret = \"minio-tls\" } }\n\
             image = { all = { pullSecrets = [\"regcred\"] } }\n\
             proxy = { tls = { secretName = \"milvus-tls\" } }\n\
             etcd = { auth = { token = { enabled = false, tokenTTL = \"10m\" } } }\n\
             externalKafka = { sasl = { password = \"\" } }\n\
             extraEnv = [{ name = \"DB_PASSWORD\", valueFrom = { secretKeyRef = { name = \"db\", key = \"password\" } } }, { name = \"TLS_SECRET_NAME\", value = \"milvus-tls\" }]",
        ),
        "[load_balancer_controller.values]\nenvSecretName = \"aws-secret\"\nkeepTLSSecret = false\nserviceAccount = { automountServiceAccountToken = true }\nimagePullSecrets = [{ name = \"regcred\" }]\n",
    );
    let stack = parse("stack.toml", &text).unwrap_or_else(|e| panic!("{:#?}", e.problems()));
    let values = values_of(&stack, "milvus");
    assert_eq!(
        at(&values, &["minio", "existingSecret"]),
        &Value::string("milvus-minio-creds")
    );
    assert_eq!(
        at(&values, &["proxy", "tls", "secretName"]),
        &Value::string("milvus-tls")
    );
    assert_eq!(
        at(&values, &["externalKafka", "sasl", "password"]),
        &Value::string("")
    );
    let lbc = values_of(&stack, "lbc");
    assert_eq!(at(&lbc, &["envSecretName"]), &Value::string("aws-secret"));
}

#[test]
fn a_misspelt_secret_key_in_an_unknown_place_is_not_shown() {
    // `passwd` for `password` in [msk.scram]: a missing key and an unknown one.
    let text = REFERENCE.replace(
        "password = \"env:MSK_SCRAM_PASSWORD\"",
        &format!("passwd = \"{SENTINEL}\""),
    );
    let err = refused_without_leaking(&text);
    assert!(
        err.problems()
            .iter()
            .any(|p| p.message == "unknown key `passwd` in [msk.scram]"),
        "{:#?}",
        err.problems()
    );
    // And in a section that has no such key at all.
    let text = REFERENCE.replace(
        "version = \"1.30\"",
        &format!("version = \"1.30\"\npasswd  = \"{SENTINEL}\""),
    );
    let err = refused_without_leaking(&text);
    assert!(
        err.problems()
            .iter()
            .any(|p| p.message == "unknown key `passwd` in [eks]"),
        "{:#?}",
        err.problems()
    );
}

#[test]
fn the_value_of_an_unknown_key_is_not_shown() {
    for (from, to) in [
        (
            "root_path = \"milvus\"",
            format!("root_path = \"milvus\"\nroot_pw   = \"{SENTINEL}\""),
        ),
        (
            "[s3]",
            format!("[vault]\nkeys = [\"{SENTINEL}\", {{ k = \"{SENTINEL}\" }}]\n\n[s3]"),
        ),
        (
            "release       = \"demo\"",
            format!("release       = \"demo\"\nadmin = {{ login = \"{SENTINEL}\" }}"),
        ),
    ] {
        let text = REFERENCE.replace(from, &to);
        let err = refused_without_leaking(&text);
        assert!(
            err.problems()
                .iter()
                .all(|p| p.message.starts_with("unknown key")),
            "{:#?}",
            err.problems()
        );
    }
}

/// The source an error carries for its snippets masks every value under
/// a secret-looking key, also one that only names a secret and was valid,
/// so no snippet, wherever it points, can show one.
#[test]
fn the_source_an_error_carries_masks_every_secret_value() {
    let text = with_values(
        "milvus.values",
        &format!("minio = {{ existingSecret = \"{SENTINEL}\" }}\nproxy = {{ replicas = 2 }}"),
    )
    .replace("release       = \"demo\"", "release       = \"Demo_1\"");
    let err = refused_without_leaking(&text);
    assert_eq!(err.problems().len(), 1, "{:#?}", err.problems());
    assert!(err.problems()[0].message.contains("milvus.release"));
}
