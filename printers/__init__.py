"""Demo prints on the lab's OctoPrint printers: registry, live state, (later) the queue."""
