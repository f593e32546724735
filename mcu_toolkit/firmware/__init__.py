"""Board budgets and project generation around a convert bundle."""
