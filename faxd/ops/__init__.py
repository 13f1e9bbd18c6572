"""The operator's page, /ops/: static HTML, JavaScript and CSS shipped in the package."""
