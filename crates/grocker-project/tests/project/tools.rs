//! Lock files made by the real tools, now.
