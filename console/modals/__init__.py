"""Modal questions, one a module: each a ModalScreen[T] that dismisses its answer."""
