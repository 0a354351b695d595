from sanitize.cli import main

main()
