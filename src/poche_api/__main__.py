from poche_api.cli import main

main()
