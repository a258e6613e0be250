//! Distribution client: references, auth, pull into and push from the store
