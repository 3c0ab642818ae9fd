"""Domain logic shared by the Lambda handlers and the CLI. Never imports typer, rich or picops.cli."""
