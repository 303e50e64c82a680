//! For the notebooks: [`notebook`] shows pictures and tables in cells and finds the project's
//! files; [`exercises`] holds the exercises' checks and hints.
pub mod exercises;
pub mod notebook;
