import { createRoot } from "react-dom/client";
import {
  Form,
  Link,
  Outlet,
  createBrowserRouter,
  redirect,
  useLoaderData,
  useNavigation,
  useSubmit,
} from "react-router";
import { RouterProvider } from "react-router/dom";
import { createContact, deleteContact, getContact, listContacts, updateContact } from "./contacts.js";

function Root() {
  const { contacts, q } = useLoaderData();
  const navigation = useNavigation();
  const submit = useSubmit();
  const searching = navigation.location ? new URLSearchParams(navigation.location.search).get("q") : null;
  const creating = navigation.state === "submitting" && navigation.formAction === "/";
  return (
    <>
      <div id="sidebar">
        <h1>Contacts</h1>
        {/* Search as you type: a GET form with no submit control; each keystroke is a
            navigation, the first one pushed, the later ones replacing it. */}
        <Form id="search-form" role="search">
          <input
            id="q"
            type="search"
            name="q"
            aria-label="Search contacts"
            placeholder="Search"
            defaultValue={q}
            onChange={(e) => submit(e.currentTarget.form, { replace: q !== null })}
          />
        </Form>
        <Form method="post">
          <button id="new" type="submit" disabled={creating}>
            {creating ? "Creating…" : "New"}
          </button>
        </Form>
        <section id="results" aria-busy={searching ? "true" : "false"}>
          <p>{searching ? `Searching for “${searching}”…` : q ? `Results for “${q}”` : "All contacts"}</p>
          <ul>
            {contacts.map((c) => (
              <li key={c.id}>
                <Link to={`/contacts/${c.id}`}>{c.first || c.last ? `${c.first} ${c.last}` : "No name"}</Link>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <div id="detail">
        <Outlet />
      </div>
    </>
  );
}

function Contact() {
  const contact = useLoaderData();
  return (
    <div id="contact">
      <h2>
        {contact.first} {contact.last}
      </h2>
      {/* Two buttons with nothing of their own to tell them apart but their text. */}
      <div>
        <Form action="edit">
          <button type="submit">Edit</button>
        </Form>
        <Form method="post" action="destroy">
          <button type="submit">Delete</button>
        </Form>
      </div>
    </div>
  );
}

function EditContact() {
  const contact = useLoaderData();
  return (
    <Form method="post" id="contact-form">
      <label>
        First name <input name="first" defaultValue={contact.first} />
      </label>
      <label>
        Last name <input name="last" defaultValue={contact.last} />
      </label>
      <button type="submit">Save</button>
    </Form>
  );
}

const contactLoader = ({ params }) => {
  const contact = getContact(params.contactId);
  if (!contact) throw new Response("", { status: 404, statusText: "Not Found" });
  return contact;
};

const router = createBrowserRouter([
  {
    path: "/",
    element: <Root />,
    errorElement: <p id="error">Not found</p>,
    loader: async ({ request }) => {
      const q = new URL(request.url).searchParams.get("q");
      return { contacts: await listContacts(q), q };
    },
    action: async () => redirect(`/contacts/${(await createContact()).id}/edit`),
    children: [
      { index: true, element: <p id="zero">Pick a contact.</p> },
      { path: "contacts/:contactId", element: <Contact />, loader: contactLoader },
      {
        path: "contacts/:contactId/edit",
        element: <EditContact />,
        loader: contactLoader,
        action: async ({ params, request }) => {
          updateContact(params.contactId, Object.fromEntries(await request.formData()));
          return redirect(`/contacts/${params.contactId}`);
        },
      },
      {
        path: "contacts/:contactId/destroy",
        action: ({ params }) => {
          deleteContact(params.contactId);
          return redirect("/");
        },
      },
    ],
  },
]);

createRoot(document.getElementById("root")).render(<RouterProvider router={router} />);
