# AWS: reads flow; nothing mints credentials, changes IAM or reads secrets; deletes are denied;
# every other write waits for a human. `aws.service` and `aws.region` come from the request's
# signature, `aws.action` from its Action parameter, X-Amz-Target header or S3 route
# (ListBuckets, PutObject, DeleteBucket…). Fixtures: tests/rules/aws.yaml.

rule "aws-unknown-operation" {
  endpoint  = aws.account
  priority  = 400
  # A request whose operation the gateway cannot name (an unsigned one, or a REST API other than
  # S3, such as Lambda's) leaves `aws.action` unknown, and a rule reading an unknown fact denies:
  # this one, first, so the receipt says why. For such an API, add a rule on `http.method` and
  # `http.path` with a higher priority.
  condition = "aws.action == ''"
  verdict   = "deny"
  reason    = "The gateway cannot tell which AWS operation this is"
}

rule "aws-no-credential-minting" {
  endpoint  = aws.account
  priority  = 300
  # AssumeRole, GetSessionToken, GetFederationToken… would hand the agent keys of its own.
  condition = "aws.service == 'sts' && aws.action != 'GetCallerIdentity'"
  verdict   = "deny"
  reason    = "Agents do not mint AWS credentials"
}

rule "aws-no-iam-changes" {
  endpoint  = aws.account
  priority  = 250
  condition = "aws.service == 'iam' && !aws.action.matches('^(Get|List)')"
  verdict   = "deny"
  reason    = "IAM changes are not made by agents"
}

rule "aws-no-secret-reads" {
  endpoint  = aws.account
  priority  = 200
  condition = "(aws.service == 'secretsmanager' && aws.action == 'GetSecretValue') || (aws.service == 'kms' && aws.action == 'Decrypt')"
  verdict   = "deny"
  reason    = "Secrets are not readable by agents"
}

rule "aws-no-deletes" {
  endpoint  = aws.account
  priority  = 150
  condition = "aws.action.matches('^(Delete|Terminate|Purge|Remove)')"
  verdict   = "deny"
  reason    = "Deleting AWS resources is not allowed"
}

rule "aws-reads" {
  endpoint  = aws.account
  priority  = 100
  condition = "aws.action.matches('^(Get|List|Describe|Head|Lookup|Search|Query|Scan|BatchGet)')"
  verdict   = "allow"
}

rule "aws-writes" {
  endpoint  = aws.account
  priority  = 50
  condition = "true"
  approve   = [human_approver.ops]
}
