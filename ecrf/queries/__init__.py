"""Data queries: raised by a monitor or data manager on a form field, answered by the site."""
