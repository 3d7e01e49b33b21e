"""Demo prints on the lab's OctoPrint printers."""
