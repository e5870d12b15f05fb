"""Tests of `stateful_collectors.n6`: collectors written as n6 4.x writes them, run here."""
