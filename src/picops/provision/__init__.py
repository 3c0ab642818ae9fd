"""Plan/apply of the resource model, the Lambda bundle builder, deploy."""
