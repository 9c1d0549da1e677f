"""A local stand-in for the AWS Cloud Control API, driven by CloudFormation registry schemas."""
