"""One module per algorithm family; importing a module registers its specs."""
