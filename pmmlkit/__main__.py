from pmmlkit.cli import main

main()
