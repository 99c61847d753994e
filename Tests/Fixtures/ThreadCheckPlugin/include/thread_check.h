/* Test fixture: no public API. */
