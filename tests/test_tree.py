"""The tree of versions (chat/tree.py), on its own: branches, versions, the newest leaf
below a version, and the first round of a reply."""

from chat.tree import Tree

# 1 user → 2 assistant (calls) → 3 tool → 4 assistant; 5: a second version of the reply
# (under 1); 6: an edit of 1 (a second first message) → 7 its reply; 8 after 4.
ROWS = [
    (1, None, "user"),
    (2, 1, "assistant"),
    (3, 2, "tool"),
    (4, 3, "assistant"),
    (5, 1, "assistant"),
    (6, None, "user"),
    (7, 6, "assistant"),
    (8, 4, "user"),
]


def test_a_branch_runs_from_the_first_message_to_its_leaf():
    tree = Tree(ROWS)
    assert tree.branch(8) == [1, 2, 3, 4, 8]
    assert tree.branch(7) == [6, 7]
    assert tree.branch(None) == [] and tree.branch(99) == []


def test_versions_are_the_messages_with_the_same_parent_oldest_first():
    tree = Tree(reversed(ROWS))
    assert tree.siblings(5) == tree.siblings(2) == [2, 5]
    assert tree.siblings(6) == [1, 6]  # first messages are versions of one another
    assert tree.siblings(3) == [3]


def test_switching_to_a_version_goes_down_to_its_newest_message():
    tree = Tree(ROWS)
    assert tree.newest_leaf(1) == 8
    assert tree.newest_leaf(2) == 8
    assert tree.newest_leaf(5) == 5
    assert tree.newest_leaf(6) == 7


def test_any_round_of_a_reply_leads_to_its_first_round():
    tree = Tree(ROWS)
    assert tree.reply_start(4) == tree.reply_start(3) == tree.reply_start(2) == 2
    assert tree.reply_start(7) == 7


def test_a_loop_in_edited_data_ends_a_walk_instead_of_hanging():
    tree = Tree([(1, 2, "assistant"), (2, 1, "assistant")])
    assert tree.branch(2) == [1, 2]
    assert tree.newest_leaf(1) == 2
    assert tree.reply_start(2) in {1, 2}
