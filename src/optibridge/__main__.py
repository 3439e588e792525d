from optibridge.cli import app

app(prog_name="optibridge")
