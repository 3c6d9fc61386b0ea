//! Market calendars: the NYSE trading calendar (sessions, holidays, early closes).

pub mod cli;
