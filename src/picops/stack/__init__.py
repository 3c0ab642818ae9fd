"""The resource model: every resource of the stack, its logical name, physical name and IAM needs."""
