//! The trained network in use: [`predict`] reads a digit from an image file (or a drawing) the
//! way MNIST's digits were made, [`photo`] a digit photographed on paper, [`number`] the several
//! digits of a number; [`serve`] puts a draw-a-digit page in front of it, on this computer or a
//! classroom's network, or writes that page as a folder that needs no server.
pub mod number;
pub mod photo;
pub mod predict;
pub mod serve;
