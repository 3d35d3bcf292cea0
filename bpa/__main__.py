from bpa.cli import main

main()
