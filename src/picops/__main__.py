from picops.cli.main import main

main()
