"""The review workstation: decisions on top of a run's render plans (store), the
re-render for an approval (approve), and the local web app (app)."""
