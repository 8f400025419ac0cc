//! Charts as SVG drawn on the server (no script), always shown beside a table of the same
//! numbers.
