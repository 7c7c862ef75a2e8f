"""iamctl, the command line of iamd, shaped like the AWS CLI (`aws iam`, `aws sts`).

    iamctl iam create-user --user-name alice          # or: iamctl create-user ...
    iamctl put-user-policy --user-name alice --policy-name p --policy-document file://p.json
    iamctl list-users --query 'Users[*].UserName' --output text
    iamctl sts assume-role --role-arn ARN --role-session-name s
    iamctl authorize --principal ARN --action s3:GetObject --resource ARN --explain
    iamctl apply -f desired.yaml --dry-run
    iamctl configure --profile ops

Modules: `main` (entry point), `commands` (names, namespaces, did-you-mean), `options`
(global options), `flags` and `docs` (a command's flags and their help), `values` (flag
values -> request), `paging`, `shape`/`output`/`text`/`table` (printing), and the local
commands `apply`, `configure`, `completion` and `overview` (`iamctl help`).
"""

from iamd_client.cli.main import main

__all__ = ["main"]
