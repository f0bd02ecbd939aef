from sitin.cli import main

main()
