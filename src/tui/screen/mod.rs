//! What the screen shows, computed from the state without drawing: the layout, the clock
//! values, the banner, the help text, the current step's detail and which keys act now. Both the
//! reducer (to scroll by what is on screen and to redraw only on change) and the views (to draw)
//! read these, so neither has to reach into the other.

pub mod allowed;
pub mod banner;
pub mod clock;
pub mod detail;
pub mod help;
pub mod layout;
