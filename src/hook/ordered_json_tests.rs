use super::*;

#[test]
fn keys_keep_their_file_order_through_a_round_trip() {
    let text = r#"{"z":1,"a":{"y":[true,null,"s"],"b":-2.5},"m":18446744073709551615,"k":-9223372036854775808}"#;
    let value: OrderedJson = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_string(&value).unwrap(), text);
}

#[test]
fn members_are_inserted_in_place_or_last_and_removed_in_order() {
    let mut value: OrderedJson = serde_json::from_str(r#"{"b":1,"a":2,"c":3,"b":4}"#).unwrap();
    let members = value.as_object_mut().unwrap();
    members.insert("a", OrderedJson::Null);
    members.insert("d", OrderedJson::Bool(false));
    assert_eq!(members.remove("c"), Some(OrderedJson::Number(3.into())));
    assert_eq!(members.remove("c"), None);
    assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"b":4,"a":null,"d":false}"#);
}
