// Replaced by the disk store.
