"""The external systems, one plugin per system behind one interface: `gift_cards` (local, Tango), ..."""
