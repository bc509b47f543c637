//! The member app. Placeholder: the Dioxus app replaces this.

fn main() {
    println!("gym-app: see README.md");
}
