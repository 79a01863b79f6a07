"""What plans would have cost (vendor-apis.md §2.8): bucket keys, the rate-structure model, the cost engine,
interval-level pricing and the EFL average-price validator. Pure: no database, Dagster or web; numbers in,
numbers out, so every rule is a unit test and the same code prices one home or a benchmark of thousands."""
