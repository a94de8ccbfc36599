"""stackplan's additions to moto's server: the AWS operations the stack needs
that moto does not implement, and fixes where moto's answers differ from
AWS's in ways the stack depends on. tests/harness/README.md lists them."""

from . import ec2, eks, iam, kafka, kms, s3, secretsmanager, ssm


def install() -> None:
    eks.install()
    kafka.install()
    iam.install()
    ec2.install()
    kms.install()
    secretsmanager.install()
    s3.install()
    ssm.install()
