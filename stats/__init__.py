"""Statistics of the visit programme: visits, visitors, posts, station use and demo prints."""
