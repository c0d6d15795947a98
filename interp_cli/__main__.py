from interp_cli.cli import run

run()
