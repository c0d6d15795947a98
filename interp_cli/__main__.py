from interp_cli.cli import main

main()
