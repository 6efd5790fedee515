"""Standard address library (一库一码) and address lookup. Built in issue 5."""
