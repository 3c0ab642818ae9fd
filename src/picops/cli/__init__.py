"""The picops command line (Typer). Never imported by core/ or handlers/."""
